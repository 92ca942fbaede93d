"""An Azure Storage account as the app and devhost reach it: `account` (settings to clients), `errors` (one
family of storage errors), `metering` (requests counted by kind), `tables` (the Table service's limits)."""
