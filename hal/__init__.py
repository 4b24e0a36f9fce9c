"""Hardware abstraction layer: the resident part (hal.interfaces: counter arithmetic, Hardware), the contracts
(hal.contracts: host side, never on a board), drivers on `machine` (hal.mcu), host mocks (hal.mock)."""
