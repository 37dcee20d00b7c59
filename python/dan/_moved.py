"""Import paths of modules that moved into subpackages keep working (dan 0.1 kept its 30 modules in
one folder, and README, RESULTS and users' scripts name them): ``import dan.checkpoint`` gives the
module that now lives at ``dan.runs.checkpoint``, the same object (see dan_ext._moved)."""
MOVED = {
    "dan.domain_interface": "dan.data.interface",
    "dan.digit_images": "dan.data.digit_images",
    "dan.image_folder": "dan.data.image_folder",
    "dan.image_data": "dan.data.image_data",
    "dan.transforms": "dan.data.transforms",
    "dan.epoch_data": "dan.data.epoch_plan",
    "dan.data_identity": "dan.data.identity",
    "dan.backbones": "dan.models.backbones",
    "dan.efficientnet_lite": "dan.models.efficientnet_lite",
    "dan.beta": "dan.methods.beta_solver",
    "dan.atomic": "dan.runs.atomic",
    "dan.checkpoint": "dan.runs.checkpoint",
    "dan.run_folder": "dan.runs.folder",
    "dan.run_log": "dan.runs.log",
    "dan.output_files": "dan.runs.output_files",
    "dan.run_grid": "dan.runs.grid",
    "dan.cli": "dan.commands.cli",
    "dan.ablate": "dan.commands.ablate",
    "dan.benchmark": "dan.commands.benchmark",
    "dan.plot": "dan.commands.plot",
    "dan.beta_plot": "dan.commands.beta_plot",
    "dan.predict": "dan.commands.predict",
}
