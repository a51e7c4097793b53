from django.contrib import admin

from ejia.catalogue.models import Programme, ProgrammeVersion, Standard


class ProgrammeVersionInline(admin.TabularInline):
    model = ProgrammeVersion
    extra = 0
    fields = ("number", "status", "effective_from", "published_at", "change_note")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "department", "category", "target", "benefit_form", "is_active", "sort_order")
    list_filter = ("department", "category", "target", "benefit_form", "is_active")
    search_fields = ("code", "name", "summary", "keywords")
    readonly_fields = ("public_id", "search_text", "created_at", "updated_at")
    inlines = [ProgrammeVersionInline]


@admin.register(ProgrammeVersion)
class ProgrammeVersionAdmin(admin.ModelAdmin):
    list_display = ("programme", "number", "status", "effective_from", "published_at", "published_by")
    list_filter = ("status", "programme__department")
    search_fields = ("programme__code", "programme__name")
    raw_id_fields = ("programme", "published_by", "created_by")

    def get_readonly_fields(self, request, obj=None):
        # Publication goes through the service (it re-checks the whole rule set); a
        # published version is frozen.
        if obj is not None and obj.is_published:
            return [f.name for f in self.model._meta.fields]
        return ("status", "published_at", "published_by", "public_id")

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.is_published


@admin.register(Standard)
class StandardAdmin(admin.ModelAdmin):
    list_display = ("kind", "division", "urban", "amount_fen", "effective_from", "effective_to", "note")
    list_filter = ("kind", "urban")
    search_fields = ("kind", "division__name", "division__code")
    raw_id_fields = ("division",)
