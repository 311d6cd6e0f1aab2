"""Configuration items as the handbook means them (SPEC §11): the CI catalogue (``catalogue.py``
the pure lookup and its checks, ``files.py`` the files of ``config/cmdb/``, ``store.py`` the CIs
pushed through the API, ``service.py`` what each process runs), so that one machine is one CI
whichever sender names it. Topology correlation and storm grouping come here next."""
