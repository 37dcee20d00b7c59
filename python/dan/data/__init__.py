"""Where the examples come from: the digit domains (``digits``, ``mnist``, ``printed``) and image
folders (``folder:PATH``), decoded and streamed batch by batch in the order of an epoch plan.

- ``domains``: the names ``--source``/``--target`` take and ``load_domain``;
- ``interface``: what the trainer asks of a domain (batches by index);
- ``digit_images``, ``image_folder``, ``image_data``, ``transforms``: digits as pictures, folders of
  images, their decoding and augmentation;
- ``epoch_plan``: which rows each step draws; ``identity``: what a resumed run checks it is given.
"""
from .domains import DIGIT_DOMAINS, Domain, check_compatible, check_domain_name, default_cache_dir, load_domain

__all__ = ["DIGIT_DOMAINS", "Domain", "check_compatible", "check_domain_name", "default_cache_dir", "load_domain"]
