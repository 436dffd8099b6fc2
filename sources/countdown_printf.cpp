#include <cstdio>

int main() {
    int counter = 10;
    while (counter > 0) {
        std::printf("T-minus %d\n", counter);
        counter--;
    }
    std::printf("Liftoff!\n");
    return 0;
}
