"""mmprep: the course's small shared package — synthetic data, seeding, device choice, plotting."""

from mmprep.device import resolve_device, try_gpu
from mmprep.seeding import seed_everything

__all__ = ["resolve_device", "seed_everything", "try_gpu"]
