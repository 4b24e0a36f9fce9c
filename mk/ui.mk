# Bench dashboard (`pumpctl ui`, tools/pumpctl/ui/). Included by the top Makefile (BIN, DEV_STAMP).
#   make ui-browser   install Debian's chromium and chromium-driver when /usr/bin/chromium is missing
#                     (as root, through apt-get; `make test` depends on it). The browser tests in
#                     tests_host/test_ui_browser.py drive that executable through Playwright (never a
#                     browser download) and skip with one reason where no browser can be had.
#   make ui           serve the dashboard on a fresh simulator: http://127.0.0.1:8765/
#   make ui-img       run the browser test and copy its dashboard screenshot to docs/img/ui_dashboard.png

CHROMIUM ?= /usr/bin/chromium

.PHONY: ui-browser ui ui-img

ui-browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "ui: installing chromium and chromium-driver (Debian packages) for the browser tests"; \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) \
	      || echo "ui: could not install chromium: the browser tests will skip"; \
	  else \
	    echo "ui: $(CHROMIUM) is missing and we are not root: the browser tests will skip"; \
	  fi; \
	fi

test: ui-browser

ui: $(STAMP)
	$(BIN)/pumpctl ui --sim

# the README's picture: the browser test's dashboard screenshot (a simulator after one programmed day)
ui-img: $(DEV_STAMP) ui-browser
	$(BIN)/python -m pytest -q -p no:cacheprovider tests_host/test_ui_browser.py
	cp build/ui-artifacts/dashboard.png docs/img/ui_dashboard.png
	$(BIN)/python -m pumpctl.docimages record
