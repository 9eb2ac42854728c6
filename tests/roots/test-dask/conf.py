extensions = ["sphinx_d2ltabs"]
project = "dask"
# two cheap "frameworks" run by the python3 kernel; "gpu" jobs need one GPU each (the
# test cluster's workers announce GPU=1 and fake CUDA_VISIBLE_DEVICES ids)
d2l_tabs = ["cpu", "gpu"]
d2l_gpus = {"gpu": 1}
# no cell of the book comes near it: chapter/three sets its own (3 s) to time out
d2l_timeout = 300
