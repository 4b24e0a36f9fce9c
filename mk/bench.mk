# Bench tester toolkit (docs/bench.md). Included by the top Makefile (STAMP, BIN, SCENARIO).
#   make longrun        the 7-year scenarios, each to a Markdown report with plots in build/longrun/NAME/
#   make report         SCENARIO (default the 90-day demo) to a report in build/report/
#   make accuracy       IEC 60601-2-24 test of a simulated pump 3 % under its calibration (PNG in build/accuracy/)
#   make calibrate-demo the same pump calibrated on the simulator, written, and tested again
#   make bench-img      regenerate the pictures in docs/img/ (README and docs/bench.md show them) and record
#                       their inputs' hashes in docs/img/images.json (tests_host/test_docs_images.py checks them)
# BENCH_INTERP=cpython runs the firmware on CPython instead of the MicroPython unix port.

BENCH_INTERP      ?= micropython
LONGRUN_SCENARIOS ?= scenarios/longrun_7y_baclofen.json scenarios/longrun_7y_faults.json
REPORT_DIR        ?= build/report

.PHONY: longrun report accuracy calibrate-demo bench-img

longrun: $(STAMP)
	@set -e; for s in $(LONGRUN_SCENARIOS); do \
	  echo "== $$s"; \
	  $(BIN)/pumpctl report $$s --out build/longrun/$$(basename $$s .json) --interp $(BENCH_INTERP); \
	done

report: $(STAMP)
	$(BIN)/pumpctl report $(SCENARIO) --out $(REPORT_DIR) --interp $(BENCH_INTERP)

accuracy: $(STAMP)
	mkdir -p build/accuracy
	$(BIN)/pumpctl accuracy --sim --interp $(BENCH_INTERP) --true-nl-per-step 48.5 \
	  --png build/accuracy/trumpet.png --csv-out build/accuracy/balance.csv

calibrate-demo: $(STAMP)
	$(BIN)/pumpctl calibrate --sim --interp $(BENCH_INTERP) --true-nl-per-step 48.5 --runs 3 --write --verify

bench-img: $(STAMP)
	$(BIN)/pumpctl accuracy --sim --interp $(BENCH_INTERP) --true-nl-per-step 48.5 \
	  --png docs/img/trumpet_sim_3pct_low.png
	$(BIN)/pumpctl report scenarios/longrun_7y_baclofen.json --out build/longrun/longrun_7y_baclofen \
	  --interp $(BENCH_INTERP) --quiet
	cp build/longrun/longrun_7y_baclofen/timeline.png docs/img/timeline_7y_baclofen.png
	$(BIN)/python -m pumpctl.docimages record
