"""File formats, one home: readers and writers of every file a configuration comes in.

- :mod:`.gsd_files`: the pipeline's GSD files (:func:`read_gsd`, :func:`write_gsd`, all frames).
- :mod:`.configurations`: GSD, LAMMPS text dump and extended XYZ of any origin, for prediction
  (:func:`read_configurations`, species mapping, frame selection).
- :mod:`.published`: the published datasets, Bapst et al. (2020) pickles and GlassBench
  (Jung et al. 2025) ``.npz`` files, and their conversion into the pipeline's files.
"""
