"""The ``ignn-pyg`` command line: one module per subcommand, the top of the package.

``main``     the parser and the dispatch (the console script's entry point)
``upscale``  super-resolve an image or a folder
``demo``     the bundled EDSR and IGNN against bicubic on the installed eval photos
``graph``    the cross-scale graph of one image: study files and the explorer page
``eval``     PSNR/SSIM of a model on a dataset
``train``    train from a YAML config

Each subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int``;
``main`` imports it only when that subcommand runs.  Nothing in the package imports
this one.  Nothing is imported here, so ``ignn-pyg --help`` loads no torch.
"""
