"""Rasa-side plugins: pipeline components that `rasa train` and `rasa run` load from config.yml.

Only .venv-rasa's Python imports this package (Rasa puts its working directory, the repository root, on
sys.path, so `rasa_plugins.e5_featurizer.E5Featurizer` in config.yml finds it). App code in bot/,
actions/ and referrals/ never imports it: it imports `rasa`.
"""
