extensions = ["sphinx_d2ltabs"]
project = "shard"
# two cheap "frameworks", both run by the python3 kernel; built one framework per
# "machine" (tests/test_sharded_build.py), then merged by a cache-only build
d2l_tabs = ["alpha", "beta"]
