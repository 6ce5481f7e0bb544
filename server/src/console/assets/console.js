// accesskey console: the only script, and nothing needs it but Copy.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const status = button.parentElement.querySelector(".copied");
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        // Not a secure context (plain HTTP away from localhost): the old way.
        field.select();
        document.execCommand("copy");
      }
      if (status) status.textContent = "Copied.";
    });
  }
});
