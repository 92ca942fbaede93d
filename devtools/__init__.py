"""Development-only tools: the Azurite storage emulator launcher. Not deployed and not imported by the app."""
