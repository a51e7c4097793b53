from django import forms


class UploadForm(forms.Form):
    file = forms.FileField(
        label="部门导出文件",
        help_text="CSV（UTF-8 或 GBK 编码）或 XLSX；第一行为表头。",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )
