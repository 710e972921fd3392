// The dashboard: choosing another municipality shows its page at once (the "show" button does it without script).
"use strict";

(function () {
  const select = document.getElementById("municipality");
  if (select) select.addEventListener("change", () => select.form.submit());
})();
