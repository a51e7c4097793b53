from django.contrib import admin

from ejia.accounts.models import Department, Division, OrgUnit, StaffRole, User


@admin.register(Division)
class DivisionAdmin(admin.ModelAdmin):
    list_display = ("code", "full_name", "level", "kind", "urban")
    list_filter = ("level", "kind", "urban")
    search_fields = ("code", "name", "full_name")


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind")


@admin.register(OrgUnit)
class OrgUnitAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "division", "department")
    list_filter = ("kind", "department")
    search_fields = ("name",)
    raw_id_fields = ("division",)


class StaffRoleInline(admin.TabularInline):
    model = StaffRole
    extra = 0


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("username", "display_name", "unit", "is_active")
    search_fields = ("username", "display_name")
    raw_id_fields = ("unit",)
    inlines = [StaffRoleInline]
    exclude = ("password", "user_permissions", "groups")
