"""The dashboard's pages, one module per view, each exposing ``render()`` for ``st.Page``.

Modules:
    overview: released counts over time per danger domain with 95% bands, the latest window, the
        largest changes beyond the noise, year-to-date totals and the latest release's privacy facts.
    explore: any report family by its dimensions, with filters and grouping over a range of windows.
    techniques: the jailbreak technique mix over time and by danger domain.
    jurisdictions: a tile-grid world map and a table of released events per jurisdiction.
    surfaces: open weights vs hosted, by danger domain.
    escalations: the funnel warn → rate limit → suspension or ban, over time.
    alerts: changes beyond the combined noise, at a stated false-alarm rate.
    budget: the privacy ledger, spend per week and year, what remains, and the guarantee in words.
    health: the release state: which windows are released, pending or refused, and why (released figures only).
    reports: the archived weekly policy reports (written alongside, by the report helper).
    _common: live refresh, the first-run page, "not released yet" notes, CSV and Parquet export.
"""
