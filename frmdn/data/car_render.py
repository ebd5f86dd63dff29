"""CarRacing's road drawn with the polygons off screen skipped in one numpy pass: the same
pixels as Gymnasium's own renderer, in about half the time per frame.

Gymnasium's ``CarRacing._render_road`` rotates, scales and bounds-checks each of the ~800
grass and road polygons in Python on every frame, and draws only the few hundred near the
car; that loop was most of a collection's time. :func:`cull_offscreen_polygons` replaces it on
one environment with a version that transforms all polygons at once with numpy and hands only
those that may be on screen (a margin wider than Gymnasium's own test) to the original
``_draw_colored_polygon``, which checks and draws them exactly as before, so every drawn
frame is identical (tested).
"""

from __future__ import annotations

import types
from collections.abc import Sequence

import numpy as np

__all__ = ["cull_offscreen_polygons"]

MARGIN = 2.0  # pixels beyond Gymnasium's own on-screen box: floating-point slack


def _visible(
    polygons: np.ndarray,
    zoom: float,
    translation: Sequence[float],
    angle: float,
    box: tuple[float, float, float, float],
) -> np.ndarray:
    """Which polygons (n, 4, 2) may have a vertex in ``box`` (low_x, high_x, low_y, high_y)
    after the renderer's rotation, zoom and translation, (n,) bool."""
    cos, sin = np.cos(angle), np.sin(angle)
    x = (polygons[..., 0] * cos - polygons[..., 1] * sin) * zoom + translation[0]
    y = (polygons[..., 0] * sin + polygons[..., 1] * cos) * zoom + translation[1]
    inside = (x >= box[0]) & (x <= box[1]) & (y >= box[2]) & (y <= box[3])
    return inside.any(-1)


def cull_offscreen_polygons(env: object) -> None:
    """Make ``env`` (a Gymnasium ``CarRacing``, unwrapped) skip off-screen polygons before
    drawing; its frames stay identical."""
    from gymnasium.envs.box2d import car_racing as module

    low = -module.MAX_SHAPE_DIM - MARGIN
    box = (low, module.WINDOW_W - low, low, module.WINDOW_H - low)
    grid = [
        [(d * x + d, d * y), (d * x, d * y), (d * x, d * y + d), (d * x + d, d * y + d)]
        for d in [module.GRASS_DIM]
        for x in range(-20, 20, 2)
        for y in range(-20, 20, 2)
    ]  # Gymnasium's grass patches, in its order
    grass = np.asarray(grid, dtype=np.float64)
    cache: dict[str, object] = {}

    def render_road(self, zoom: float, translation: Sequence[float], angle: float) -> None:  # noqa: ANN001
        bounds = module.PLAYFIELD
        field = [(bounds, bounds), (bounds, -bounds), (-bounds, -bounds), (-bounds, bounds)]
        self._draw_colored_polygon(
            self.surf, field, self.bg_color, zoom, translation, angle, clip=False
        )
        for i in np.flatnonzero(_visible(grass, zoom, translation, angle, box)):
            self._draw_colored_polygon(
                self.surf, grid[i], self.grass_color, zoom, translation, angle
            )
        if cache.get("road") is not self.road_poly:  # a new track after a reset
            cache["road"] = self.road_poly
            points = [[p[:2] for p in poly] for poly, _ in self.road_poly]
            cache["points"] = np.asarray(points, dtype=np.float64).reshape(-1, 4, 2)
        for i in np.flatnonzero(_visible(cache["points"], zoom, translation, angle, box)):
            poly, color = self.road_poly[i]
            self._draw_colored_polygon(
                self.surf,
                [(p[0], p[1]) for p in poly],
                [int(c) for c in color],
                zoom,
                translation,
                angle,
            )

    env._render_road = types.MethodType(render_road, env)
