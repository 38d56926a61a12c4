// lib/window.wgsl — the window of a flat window index, shared by attention.wgsl and
// attention-naive.wgsl. Needs `params` with lat_t/h/w (latent per clip), win_t/h/w (window) and
// windows (windows per clip); windows are (wt, wy, wx) row-major within a clip.

// Window (b, wt, wy, wx) of a flat window index b · windows + w.
struct Window {
    b: u32,
    t0: u32,   // first latent frame, row and column of the window
    y0: u32,
    x0: u32,
};

fn window_of(wflat: u32) -> Window {
    let b = wflat / params.windows;
    let wi = wflat % params.windows;
    let nwx = params.lat_w / params.win_w;
    let nwy = params.lat_h / params.win_h;
    let wt = wi / (nwx * nwy);
    let wy = (wi / nwx) % nwy;
    let wx = wi % nwx;
    return Window(b, wt * params.win_t, wy * params.win_h, wx * params.win_w);
}
