_instruments = ("wandb >= 0.19",)
