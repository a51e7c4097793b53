from django import forms


class UploadForm(forms.Form):
    file = forms.FileField(
        label="部门导出文件",
        help_text="CSV（UTF-8 或 GBK 编码）或 XLSX；第一行为表头。",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )


class CommitForm(forms.Form):
    override_reason = forms.CharField(
        label="入库原因",
        required=False,
        max_length=300,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="本文件可接收的行数远少于当前批次时必填，记入审计日志。",
    )
