// Every test process runs in UTC so that time-derived hashes are reproducible (STYLE.md 2.7).
process.env.TZ = 'UTC';
