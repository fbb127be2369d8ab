"""Modbus RTU over RS-485: register-map profiles, read planning, RTU framing, value decoding and
the bus poller (`ModbusRtuDriver`, config type `modbus_rtu`).

The RTU codec and the serial transport are this package's own (pyserial underneath); pymodbus is
the independent slave in drivers/sim/pty_modbus.py and the reference the tests check against.
Why not pymodbus's client: its 3.16 RTU framer loses a good reply behind one stray byte, turns a
CRC-damaged reply into a full-timeout stall that cannot be told from a dead slave, and reopens
the port by itself, hiding the unplug the gateway must report.
"""
