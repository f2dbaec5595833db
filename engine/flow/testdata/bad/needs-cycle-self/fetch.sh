echo fetch
