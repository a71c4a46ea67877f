"""How a model runs on this machine: settings of the device and the process, no model code.

``devices``    the torch device a command runs on (``--device``), visible GPUs
``precision``  fp32 / bf16 / fp16 and the memory layout a model runs in (``--precision``)
``allocator``  glibc ``malloc`` settings that keep freed memory in the process
``toolchain``  whether a C++ compiler is there to build native code

Nothing is imported here, so ``ignn_pyg.runtime.allocator`` stays free of torch (the
command line imports it before it knows which subcommand runs).
"""
