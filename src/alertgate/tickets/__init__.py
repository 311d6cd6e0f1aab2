"""The normalized Alert and the Ticket: the model, the lifecycle (a pure state machine with its SLA
clocks), the Redis hash codec, and the store that applies actions (the one module here with I/O)."""
