"""Testing charts with pytest: the plugin's fixtures (`plugin`), the assertions (`assertions`), snapshot
bookkeeping (`snapshot_ledger`) and golden manifests (`golden`)."""
