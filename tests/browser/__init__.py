"""Real-browser end-to-end tests: ``python app.py`` driven by headless Debian Chromium through Playwright.

    python -m pytest -m browser                                # run them alone (skip if /usr/bin/chromium is absent)
    KPDEMO_UPDATE_SCREENSHOTS=1 python -m pytest -m browser    # also refresh docs/screenshots/*.jpg

Screenshots of every tab (and of any failing test's page) land in ``test-artifacts/``; the app's log in
``test-artifacts/app.log``.
"""
