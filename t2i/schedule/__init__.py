"""Schedules: cron.py (parsing the crontab and KFP cron forms), words.py (a schedule in
English), lock.py (the rebuild lock), loop.py (the local scheduler's ticks and loop),
job.py (the rebuild a tick runs, and its crontab line).

The local scheduler runs in the foreground. A rebuild holds an fcntl.flock lock file under
the pipeline root, so two rebuilds never overlap, whichever scheduler (or cron job) starts
them; a tick that finds the lock taken is skipped with a message. Imports no TensorFlow
or TFX: a skipped tick costs milliseconds.
"""
