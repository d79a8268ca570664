"""The test suite finds a user's CIFAR-10 copy through $JAXOPT_COURSE_CIFAR10 in every layout it accepts."""

from conftest import CIFAR10_FOLDER, user_cifar10


def _batches(folder):
    folder.mkdir(parents=True)
    (folder / "test_batch").write_bytes(b"")
    return folder


def test_the_folder_holding_the_batches(tmp_path):
    _batches(tmp_path / "data" / CIFAR10_FOLDER)
    assert user_cifar10(str(tmp_path / "data"), tmp_path / "holder") == tmp_path / "data"


def test_the_batches_folder_itself_under_its_official_name(tmp_path):
    batches = _batches(tmp_path / "data" / CIFAR10_FOLDER)
    assert user_cifar10(str(batches), tmp_path / "holder") == tmp_path / "data"


def test_the_batches_folder_itself_under_another_name(tmp_path):
    batches = _batches(tmp_path / "my-cifar")
    root = user_cifar10(str(batches), tmp_path / "holder")
    assert root == tmp_path / "holder"
    assert (root / CIFAR10_FOLDER / "test_batch").is_file()
    assert (root / CIFAR10_FOLDER).resolve() == batches.resolve()


def test_a_folder_without_cifar10_is_none(tmp_path):
    (tmp_path / "empty").mkdir()
    assert user_cifar10(str(tmp_path / "empty"), tmp_path / "holder") is None
    assert user_cifar10(str(tmp_path / "missing"), tmp_path / "holder") is None
    assert not (tmp_path / "holder").exists()
