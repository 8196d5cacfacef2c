// The program each layer_link_* test links with one layer whole
// (tests/unit/meson.build): it only has to link.
int main() {
    return 0;
}
