"""The parts of the notice renderer; import them from :mod:`services.notifier.render`."""
