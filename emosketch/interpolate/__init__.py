"""Walking the generator's style space: easing, paths, timelines, the agent emotion model, and
rendering those walks into frames, videos and OLED packs."""
