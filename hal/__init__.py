"""Hardware abstraction layer: interfaces (hal.interfaces), drivers on `machine` (hal.mcu), host mocks (hal.mock)."""
