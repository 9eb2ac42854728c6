from sphinx_d2ltabs.migrate import config_from_ini

globals().update(config_from_ini("config.ini", report=lambda msg: None))
