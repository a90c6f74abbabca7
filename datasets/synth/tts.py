"""Offline text-to-speech with libespeak-ng (from the ``espeakng_loader`` wheel) via ctypes.

Determinism note
----------------
libespeak-ng keeps synthesis state in C globals and function-level statics (glottal phase,
pitch-flutter index, automatic gain, echo buffer, Klatt filter memories).  None of it is reset
by ``espeak_Terminate``/``espeak_Initialize``, so two identical calls in one process give
different samples (sometimes different lengths).  To make every call a pure function of its
arguments, each :meth:`EspeakSynthesizer.synthesize` loads a *private copy* of the shared
library (copied once per process into memory), initializes it, synthesizes,
terminates and unloads it again.  The private copy also keeps us from disturbing any other
in-process user of the original ``libespeak-ng.so``.  Load + initialize + voice setup costs
about 5 ms per call.
Both espeak's own noise generator and libc ``rand()`` (used by the speechPlayer variants)
are seeded before each call, so libc's process-global ``rand`` state is reset as a side effect.

All library access is serialized by a module-level lock: the library is process-global
state, and the synthesis callback writes into a shared buffer.
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import os
import shutil
import tempfile
import threading
from functools import lru_cache
from math import gcd
from pathlib import Path

import espeakng_loader
import numpy as np
from scipy.signal import firwin, resample_poly

OUTPUT_RATE = 16000

# Values from espeak-ng's speak_lib.h.
AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_AUTO = 0
ESPEAK_RATE = 1
ESPEAK_PITCH = 3
ESPEAK_RANGE = 4
EE_OK = 0

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.RLock()
_PRIVATE_COPY: str | None = None  # path of the private library copy, see _private_library()
_LIBC = ctypes.CDLL(None)  # the speechPlayer ("klatt 6") variants draw noise from libc rand()


def data_path() -> Path:
    """Folder holding ``espeak-ng-data`` contents (phondata, voices, dictionaries)."""
    return Path(espeakng_loader.get_data_path())


def available_variants() -> list[str]:
    """Names of the voice variants shipped in ``<data>/voices/!v`` (e.g. ``m3``, ``f2``)."""
    return sorted(p.name for p in (data_path() / "voices" / "!v").iterdir() if p.is_file())


def _private_library() -> str:
    """Path of this process's private copy of libespeak-ng (made once, lazily).

    On Linux the copy is an anonymous in-memory file (``memfd``) opened as
    ``/proc/self/fd/N``: forked children inherit it and the kernel frees it at exit.  Elsewhere
    it is a temporary file, removed at interpreter exit.
    """
    global _PRIVATE_COPY
    with _LOCK:
        if _PRIVATE_COPY is None:
            data = Path(espeakng_loader.get_library_path()).read_bytes()
            if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
                fd = os.memfd_create("perloc-libespeak-ng")
                with os.fdopen(os.dup(fd), "wb") as f:
                    f.write(data)
                _PRIVATE_COPY = f"/proc/self/fd/{fd}"
            else:
                folder = Path(tempfile.mkdtemp(prefix="perloc-espeak-"))
                (folder / "libespeak-ng-perloc.so").write_bytes(data)
                atexit.register(shutil.rmtree, folder, True)
                _PRIVATE_COPY = str(folder / "libespeak-ng-perloc.so")
        return _PRIVATE_COPY


def _declare(lib: ctypes.CDLL) -> None:
    """Attach the C signatures of the functions we call."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    for name in ("espeak_SetVoiceByName", "espeak_SetParameter", "espeak_ng_SetRandSeed",
                 "espeak_Synth", "espeak_Synchronize", "espeak_Terminate"):
        getattr(lib, name).restype = ctypes.c_int


def _check(name: str, code: int) -> None:
    """Raise a RuntimeError naming the espeak call when it did not return EE_OK."""
    if code != EE_OK:
        raise RuntimeError(f"{name} failed with espeak error code {code}")


class _Session:
    """One load/initialize/terminate/unload cycle of the private library (use as a context)."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.lib: ctypes.CDLL | None = None
        self.rate = 0
        self._callback = _SYNTH_CALLBACK(self._collect)  # referenced for the session lifetime

    def _collect(self, wav, numsamples, _events) -> int:
        if wav and numsamples > 0:
            # string_at copies the bytes; np.ctypeslib.as_array would cache a ctypes array
            # type per distinct chunk length (an unbounded leak over many calls).
            raw = ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))
            self.chunks.append(np.frombuffer(raw, dtype=np.int16))
        return 0

    def __enter__(self) -> _Session:
        self.lib = ctypes.CDLL(_private_library())
        _declare(self.lib)
        try:
            self.rate = self.lib.espeak_Initialize(
                AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path()).encode(), 0)
            if self.rate <= 0:
                raise RuntimeError(f"espeak_Initialize failed (returned {self.rate})")
            self.lib.espeak_SetSynthCallback(self._callback)
        except BaseException:
            self._unload()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            code = self.lib.espeak_Terminate()
        finally:
            self._unload()
        if exc[0] is None:
            _check("espeak_Terminate", code)

    def _unload(self) -> None:
        handle, self.lib = self.lib._handle, None
        _ctypes.dlclose(handle)
        self._callback = None  # break the self -> callback -> bound method -> self cycle


def espeak_version() -> str:
    """Version string reported by libespeak-ng (e.g. ``"1.52.0"``)."""
    with _LOCK:
        lib = ctypes.CDLL(_private_library())
        try:
            _declare(lib)
            return lib.espeak_Info(None).decode()
        finally:
            _ctypes.dlclose(lib._handle)


def _validate_voice(voice: str) -> None:
    """espeak silently ignores unknown variants; reject them here instead."""
    _, _, variant = voice.partition("+")
    if variant and not (data_path() / "voices" / "!v" / variant).is_file():
        raise ValueError(f"unknown eSpeak voice variant {variant!r} in {voice!r}")


class EspeakSynthesizer:
    """Deterministic speech synthesis at 16 kHz with eSpeak NG.

    ``voice`` is ``"<language>+<variant>"`` (e.g. ``"en-us+f2"``, ``"en+klatt3"``); ``pitch``
    and ``pitch_range`` are espeak's 0-100 scales (50 = voice default); ``rate_wpm`` is the
    espeak speaking rate (80-450).  ``seed`` feeds espeak's internal noise generator.
    """

    output_rate = OUTPUT_RATE

    def synthesize(self, text: str, voice: str, pitch: int, rate_wpm: int,
                   pitch_range: int, seed: int = 0) -> np.ndarray:
        """Speak ``text``; returns float32 samples in [-1, 1) at 16 kHz."""
        return self.synthesize_many([text], voice, pitch, rate_wpm, pitch_range, seed)[0]

    def synthesize_many(self, texts: list[str], voice: str, pitch: int, rate_wpm: int,
                        pitch_range: int, seed: int = 0) -> list[np.ndarray]:
        """Speak several texts with one voice in one library session (one load for all).

        The result depends only on the arguments (including the order of ``texts``).
        """
        _validate_voice(voice)
        with _LOCK, _Session() as session:
            _set_voice(session.lib, voice, pitch, rate_wpm, pitch_range, seed)
            raw = [_speak(session, text) for text in texts]
            rate = session.rate
        return [_resample(x, rate, self.output_rate) for x in raw]


def _set_voice(lib: ctypes.CDLL, voice: str, pitch: int, rate_wpm: int, pitch_range: int,
               seed: int) -> None:
    """Select the voice, its parameters and the noise seeds."""
    code = lib.espeak_SetVoiceByName(voice.encode())
    if code != EE_OK:
        raise RuntimeError(f"espeak_SetVoiceByName({voice!r}) failed with code {code}")
    _check("espeak_SetParameter(espeakRATE)", lib.espeak_SetParameter(ESPEAK_RATE, rate_wpm, 0))
    _check("espeak_SetParameter(espeakPITCH)", lib.espeak_SetParameter(ESPEAK_PITCH, pitch, 0))
    _check("espeak_SetParameter(espeakRANGE)",
           lib.espeak_SetParameter(ESPEAK_RANGE, pitch_range, 0))
    _check("espeak_ng_SetRandSeed", lib.espeak_ng_SetRandSeed(seed & 0x7FFFFFFF))
    _LIBC.srand(ctypes.c_uint(seed & 0xFFFFFFFF))


def _speak(session: _Session, text: str) -> np.ndarray:
    """Synthesize one text in an open session; int16 samples at the native rate."""
    data = text.encode("utf-8")
    session.chunks.clear()
    buf = ctypes.create_string_buffer(data)
    _check("espeak_Synth", session.lib.espeak_Synth(buf, len(data) + 1, 0, POS_CHARACTER, 0,
                                                     ESPEAK_CHARS_AUTO, None, None))
    _check("espeak_Synchronize", session.lib.espeak_Synchronize())
    return np.concatenate(session.chunks) if session.chunks else np.zeros(0, np.int16)


@lru_cache(maxsize=4)
def _antialias_fir(up: int, down: int) -> np.ndarray:
    """The low-pass FIR ``resample_poly`` designs by default (cached: designing it is slow)."""
    max_rate = max(up, down)
    return firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)


def _resample(raw: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """int16 at ``rate_in`` -> float32 at ``rate_out`` (polyphase; 22050 -> 16000 is 320/441)."""
    x = raw.astype(np.float32) / 32768.0
    if rate_in == rate_out or x.size == 0:
        return x
    g = gcd(rate_out, rate_in)
    up, down = rate_out // g, rate_in // g
    return resample_poly(x, up, down, window=_antialias_fir(up, down)).astype(np.float32)
