"""Where the examples come from: the digit domains (``digits``, ``mnist``, ``printed``) and image
folders (``folder:PATH``), decoded and streamed batch by batch in the order of an epoch plan.

- ``domains``: the names ``--source``/``--target`` take and ``load_domain``;
- ``interface``: what the trainer asks of a domain (batches by index);
- ``digit_images``, ``image_folder``, ``image_data``, ``transforms``: digits as pictures, folders of
  images, their decoding and augmentation;
- ``epoch_plan``: which rows each step draws; ``identity``: what a resumed run checks it is given.
"""
# every public name of the module dan.data was before it became this package (old imports work)
from .domains import (COMMA_HINT, DIGIT_DOMAINS, Domain, check_compatible, check_domain_name, default_cache_dir,
                      load_digits_domain, load_domain, load_folder_domain, load_mnist_domain, load_printed_domain,
                      mnist_images, optdigits_reduce, render_printed, render_printed_canvases)

__all__ = ["COMMA_HINT", "DIGIT_DOMAINS", "Domain", "check_compatible", "check_domain_name", "default_cache_dir",
           "load_digits_domain", "load_domain", "load_folder_domain", "load_mnist_domain", "load_printed_domain",
           "mnist_images", "optdigits_reduce", "render_printed", "render_printed_canvases"]
