import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: one thread avoids OpenMP oversubscription on shared 2-core machines
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
