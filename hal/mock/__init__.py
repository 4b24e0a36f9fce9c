"""Host mocks of the HAL, shared by the tests and the simulator. They run on CPython and on the
MicroPython unix port; they are never deployed to a board."""
