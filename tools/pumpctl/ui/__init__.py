"""`pumpctl ui`: the bench dashboard, a local web page that shows a pump (a board or the simulator) live.

- `device.py`: the link to the pump (one PumpLink, used from one worker thread: requests serialised),
  polling `status`, `log since` and on the simulator `sim.state`, and the commands the page sends;
- `view.py`: the pump's replies in the units people read (mL, uL/h, mcg/day, dates), the programme's
  profile over its cycle, the review (present vs new) of a command that changes therapy;
- `server.py`: the aiohttp application (page, JSON API, websocket pushing snapshots);
- `cli.py`: the `pumpctl ui` subcommand; `static/`: the page (plain JS and SVG, no CDN).
"""
