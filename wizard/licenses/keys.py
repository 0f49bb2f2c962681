"""The signing keys this installation trusts: Replicated's global keys, and PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEYS_DIR = Path(__file__).parent.parent / "keys"

# Replicated's global signing keys, by the id a license names in its key signature.
GLOBAL_KEYS = {
    "bdee56560cfb43c9b28bf98eacafa646": "production",
    "1d3f7f6b50714fe7b895554dd65773b0": "dev",
    "de2c275656d04b1bb0f15cf70f0ea2a2": "staging",
}


@dataclass(frozen=True)
class TrustedKeys:
    """The global keys this installation trusts: Replicated's by id, and custom PEM files."""

    by_id: dict[str, tuple[str, Any]]  # globalKeyId -> (name, public key)
    custom: tuple[tuple[str, Any], ...]  # (name, public key) pairs, tried for any other id
    names: tuple[str, ...]

    def candidates(self, global_key_id: str | None) -> list[tuple[str, Any]]:
        """The (name, key) pairs that may have signed for this global key id."""
        if global_key_id in self.by_id:
            return [self.by_id[global_key_id]]
        return list(self.custom)


def load_trusted_keys(setting: str | None = "production") -> TrustedKeys:
    """Parse WIZARD_LICENSE_KEYS: a comma list of production, dev, staging or PEM file paths."""
    by_id: dict[str, tuple[str, Any]] = {}
    custom: list[tuple[str, Any]] = []
    names: list[str] = []
    ids_by_name = {name: key_id for key_id, name in GLOBAL_KEYS.items()}
    for entry in (part.strip() for part in (setting or "production").split(",")):
        if not entry:
            continue
        if entry in ids_by_name:
            by_id[ids_by_name[entry]] = (entry, _load_public_key(KEYS_DIR / f"{entry}.pem"))
            names.append(entry)
            continue
        path = Path(entry).expanduser()
        if not path.is_file():
            raise ValueError(
                f"WIZARD_LICENSE_KEYS: {entry!r} is neither production, dev, staging "
                "nor a readable PEM file"
            )
        try:
            key = _load_public_key(path)
        except ValueError as error:
            raise ValueError(
                f"WIZARD_LICENSE_KEYS: {path} is not an RSA public key: {error}"
            ) from None
        custom.append((path.name, key))
        names.append(path.name)
    if not names:
        raise ValueError("WIZARD_LICENSE_KEYS names no key")
    return TrustedKeys(by_id=by_id, custom=tuple(custom), names=tuple(names))


def _load_public_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key
