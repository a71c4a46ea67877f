"""Test-wide settings.

The tests run tiny tensors, where a second intra-op thread only adds synchronisation
(on a loaded 2-core machine it made the suite 4x slower); one thread also makes
floating-point reductions reproducible run to run.
"""

import torch

torch.set_num_threads(1)
