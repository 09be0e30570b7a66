"""The backup / restore / verify / prune engine behind `archangel-helm backup ...` and the backup CronJobs.

Every backup object is gzip -> AES-256-CBC in openssl's `enc` format (Salted__, PBKDF2-SHA256) -> HMAC-SHA256
over the ciphertext with a separate key, so an operator can check and decrypt one with standard tools alone
(docs/DISASTER_RECOVERY.md). Streams stay in constant memory whatever the data size.
"""
