#################   WARNING   ################
# The below part is generated automatically through:
#    d2lbook build lib
# Don't edit it directly

def use_svg_display():
    """Use the svg format to display a plot in Jupyter.

    Defined in :numref:`sec_calculus`"""
    backend_inline.set_matplotlib_formats('svg')

class Trainer(d2l.HyperParameters):
    """The base class for training models.

    Defined in :numref:`sec_scratch`"""
    def __init__(self, max_epochs):
        self.max_epochs = max_epochs

    def prepare_batch(self, batch):
        return batch

class SGD:
    def __init__(self, params, lr):
        """Defined in :numref:`sec_scratch`"""
        self.params, self.lr = params, lr

class LinearRegressionScratch(d2l.Module):
    """The linear regression model implemented from scratch.

    Defined in :numref:`sec_scratch`"""
    def __init__(self, lr):
        super().__init__()
        self.lr = lr

    def configure_optimizers(self):
        """Defined in :numref:`sec_scratch`"""
        return SGD(self.lr)

d2l.DATA_HUB['hotdog'] = (d2l.DATA_URL + 'hotdog.zip',
                         'fba480ffa8aa7e0febbb511d181409f899b9baa5')

class Module(d2l.nn_Module, d2l.HyperParameters):
    """The base class of models.

    Defined in :numref:`sec_scratch`"""
    plot_train_per_epoch: int = 2


# Alias defined in config.ini

ones = jnp.ones
zeros = jnp.zeros
arange = jnp.arange
reshape = lambda x, *args, **kwargs: x.reshape(*args, **kwargs)

