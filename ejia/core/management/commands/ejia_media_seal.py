from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError

from ejia.core.storage import SealedFileSystemStorage, media_seal


class Command(BaseCommand):
    help = "Seal (encrypt at rest) every uploaded file that was written before sealing was switched on."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count the plaintext files")

    def handle(self, *args, dry_run=False, **options):
        storage = storages["default"]
        if not isinstance(storage, SealedFileSystemStorage):
            raise CommandError(
                "默认存储不是加密存储（STORAGES['default'] 应为 ejia.core.storage.SealedFileSystemStorage）。"
            )
        sealed, already = media_seal(storage, dry_run=dry_run)
        verb = "would seal" if dry_run else "sealed"
        self.stdout.write(f"{verb} {sealed} files; {already} already sealed ({storage.location})")
