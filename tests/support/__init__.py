"""What tests share and are not tests themselves: in-memory drivers and harnesses, imported by test modules of
any tier."""
