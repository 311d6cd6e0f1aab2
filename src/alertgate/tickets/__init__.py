"""Domain types shared by every stage: the normalized Alert and (later) the Ticket. No I/O."""
