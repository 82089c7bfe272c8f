"""The test world, as a library: plain modules the suites import (fixtures live in conftest.py files and in
the plugin modules of :mod:`tests.support.fixtures`, registered by the root ``tests/conftest.py``).

- :mod:`~tests.support.paths`: the repository's folders the tests read and write.
- :mod:`~tests.support.ids`: region, accounts, model names and ARNs, resource names.
- :mod:`~tests.support.configs`: pipeline configurations for tests.
- :mod:`~tests.support.images`: the one image factory.
- :mod:`~tests.support.events`: sample events, event builders, a fake Lambda context.
- :mod:`~tests.support.emulator`: constants and checks of the Custom Labels emulator tests.
- :mod:`~tests.support.stack`: the synthesized pipeline stack.
- :mod:`~tests.support.faults`: fault-injection wrappers around the detect handler's clients.
- :mod:`~tests.support.capture`: result events captured off the bus.
- :mod:`~tests.support.scenarios`: the offline scenario runner of the reliability suites.
- :mod:`~tests.support.reliability`: what a scenario observed, its invariants, the report's records.
"""
