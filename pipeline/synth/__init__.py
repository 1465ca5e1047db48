"""Built-in semi-synthetic data: physiology, face model, renderer and the generator stage.

- ``physio``: heart rate, pulse (facial PPG) and BP waveforms, breathing waves and rates;
- ``face``: canonical face geometry, 68 landmarks, action-unit dynamics and deformations;
- ``render``: vectorised frame rendering with skin-reflection pulse and nuisances;
- ``generate``: the ``python -m pipeline generate`` stage writing the real dataset layouts.
"""
